"""The validation of the knowledge base: every scenario call through the one pipeline, checked.

Each call of each ``fhir_fixtures`` manifest runs through :class:`cds_service.pipeline.Pipeline`
(the pipeline the service runs, at the manifest's ``today``, ``prefetch`` filled from the bundle)
and is checked as ``tests/test_scenarios.py`` checks it over HTTP: the ids that must fire do, with
the indicators and subjects the manifest names; those that must stay silent do; the unreadable
resources are those named. The result is grouped by recommendation, with what the scenarios cover
(hooks, indicators, suggestions) and what they do not, for ``cds-service validate`` and the
``/recommendations/validation`` page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import string
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cds_service.guidance import Guidance
from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.catalogue import RecommendationSpec
from cds_service.guidelines.versioning import KnowledgeVersion
from cds_service.hooks.errors import CdsError
from cds_service.hooks.models import Card
from cds_service.hooks.services import SERVICES
from cds_service.identifiers import EXTENSION_KEY
from cds_service.pipeline import Pipeline
from cds_service.scenarios import Scenario
from cds_service.scenarios import ScenarioCall
from cds_service.scenarios import ScenarioError
from cds_service.settings import Settings
from cds_service.vocabulary import Hook
from cds_service.vocabulary import Indicator

BASE_URL = "http://validation.invalid"
"""The base URL the cards are rendered with (their links are not part of the report)."""


class Expect(StrEnum):
    """What a manifest expects of a recommendation in one call."""

    FIRES = "fires"
    SILENT = "silent"


@dataclass(frozen=True)
class ProducedSuggestion:
    """A suggestion on a produced card.

    Attributes:
        label: the button text.
        key: the wording's suggestion key it was rendered from (None if no label matches).
        actions: the action types, in order (``create``, ``delete``...).
    """

    label: str
    key: str | None
    actions: tuple[str, ...]


@dataclass(frozen=True)
class ProducedCard:
    """A card a call returned.

    Attributes:
        rec_id: the recommendation id.
        summary: the card's summary.
        indicator: its indicator.
        subject: what it is about (a tumour's Condition id or a draft order), if it says.
        suggestions: its suggestions.
    """

    rec_id: str
    summary: str
    indicator: Indicator
    subject: str | None
    suggestions: tuple[ProducedSuggestion, ...]


@dataclass(frozen=True)
class Check:
    """One recommendation expected to fire or to stay silent in one call.

    Attributes:
        rec_id: the recommendation id.
        expect: fires or silent.
        problems: what went wrong (empty: passed).
        cards: the cards of ``rec_id`` the call returned.
    """

    rec_id: str
    expect: Expect
    problems: tuple[str, ...]
    cards: tuple[ProducedCard, ...]

    @property
    def passed(self) -> bool:
        """Whether the expectation held."""
        return not self.problems


@dataclass(frozen=True)
class CallResult:
    """One scenario call, run and checked.

    Attributes:
        scenario: the scenario.
        call: the call in its manifest.
        cards: every card returned, in display order.
        problems: failures of the call as a whole (an error, unreadable resources, a rule that
            raised).
        checks: the manifest's expectations, one per recommendation id named.
    """

    scenario: Scenario
    call: ScenarioCall
    cards: tuple[ProducedCard, ...]
    problems: tuple[str, ...]
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """Whether the call and every check passed."""
        return not self.problems and all(check.passed for check in self.checks)

    @property
    def label(self) -> str:
        """``scenario: request file``."""
        return f"{self.scenario.name}: {self.call.request}"

    @property
    def unasserted(self) -> tuple[ProducedCard, ...]:
        """The cards of recommendations the manifest names in neither list."""
        named = {check.rec_id for check in self.checks}
        return tuple(card for card in self.cards if card.rec_id not in named)


@dataclass(frozen=True)
class Coverage:
    """What a recommendation declares and what the passing scenarios show it doing.

    Attributes:
        hooks: each declared hook, with whether a passing call on it made the card fire.
        indicators: each declared indicator, with whether a passing call showed it.
        suggestions: each wording suggestion key with the action types seen for it (empty:
            never shown by a passing call).
        silent_checked: whether some passing call checked that it stays silent.
    """

    hooks: tuple[tuple[Hook, bool], ...]
    indicators: tuple[tuple[Indicator, bool], ...]
    suggestions: tuple[tuple[str, tuple[str, ...]], ...]
    silent_checked: bool

    @property
    def uncovered(self) -> tuple[str, ...]:
        """What no passing scenario shows, in words."""
        missing = [f"hook {hook.value}" for hook, seen in self.hooks if not seen]
        missing += [f"indicator {indicator.value}" for indicator, seen in self.indicators
                    if not seen]
        missing += [f"suggestion {key}" for key, seen in self.suggestions if not seen]
        if not self.silent_checked:
            missing.append("no scenario where it must stay silent")
        return tuple(missing)


@dataclass(frozen=True)
class RecommendationResult:
    """One recommendation across the scenarios.

    Attributes:
        spec: the catalogue entry.
        fires: the calls where it must fire, with the check.
        silent: the calls where it must stay silent, with the check.
        coverage: what the scenarios cover.
    """

    spec: RecommendationSpec
    fires: tuple[tuple[CallResult, Check], ...]
    silent: tuple[tuple[CallResult, Check], ...]
    coverage: Coverage

    @property
    def failures(self) -> int:
        """How many of its checks failed."""
        return sum(1 for _, check in (*self.fires, *self.silent) if not check.passed)


@dataclass(frozen=True)
class ValidationReport:
    """Every scenario call run and checked, and the result by recommendation.

    Attributes:
        version: the knowledge base's version and content hash.
        scenarios: the scenarios, by folder name.
        calls: every call's result, in scenario order.
        recommendations: the result per recommendation, in catalogue order.
        hooks_called: each service hook, with whether any scenario calls it.
        unknown_ids: recommendation ids the manifests name that the catalogue lacks.
    """

    version: KnowledgeVersion
    scenarios: tuple[Scenario, ...]
    calls: tuple[CallResult, ...]
    recommendations: tuple[RecommendationResult, ...]
    hooks_called: tuple[tuple[Hook, bool], ...]
    unknown_ids: tuple[str, ...]

    @property
    def failed_calls(self) -> tuple[CallResult, ...]:
        """The calls with a failed check or a failure of their own."""
        return tuple(call for call in self.calls if not call.passed)

    @property
    def passed(self) -> bool:
        """Whether every call passed and every id named is in the catalogue."""
        return not self.failed_calls and not self.unknown_ids

    @property
    def check_count(self) -> int:
        """How many expectations were checked."""
        return sum(len(call.checks) for call in self.calls)

    def failure_lines(self) -> list[str]:
        """One line per failure, for a terminal."""
        lines = [f"{call.label}: {problem}" for call in self.failed_calls
                 for problem in call.problems]
        lines += [f"{call.label}: {check.rec_id} must {_must(check.expect)}: {problem}"
                  for call in self.failed_calls for check in call.checks
                  for problem in check.problems]
        lines += [f"manifests name an unknown recommendation id: {rec_id}"
                  for rec_id in self.unknown_ids]
        return lines


def _must(expect: Expect) -> str:
    return "fire" if expect is Expect.FIRES else "stay silent"


def label_patterns(labels: Mapping[str, str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each suggestion key with a pattern matching the labels its template renders."""
    patterns = []
    for key, template in labels.items():
        regex = "".join(re.escape(literal) + (".+?" if name is not None else "")
                        for literal, name, _, _ in string.Formatter().parse(template))
        patterns.append((key, re.compile(regex, re.DOTALL)))
    return tuple(patterns)


def _produced(card: Card, patterns: tuple[tuple[str, re.Pattern[str]], ...]) -> ProducedCard:
    explanation = (card.extension or {}).get(EXTENSION_KEY) or {}
    subject = explanation.get("subject")
    return ProducedCard(
        rec_id=card.source.topic.code if card.source.topic else "",
        summary=card.summary,
        indicator=card.indicator,
        subject=subject if isinstance(subject, str) else None,
        suggestions=tuple(
            ProducedSuggestion(
                label=suggestion.label,
                key=next((key for key, pattern in patterns
                          if pattern.fullmatch(suggestion.label)), None),
                actions=tuple(action.type.value for action in suggestion.actions or ()))
            for suggestion in card.suggestions or ()),
    )


class Validator:
    """Runs scenarios through the pipeline and checks them.

    Args:
        guidance: the clinical pipeline (its ``today`` is replaced by each manifest's).
        settings: the FHIR limits the pipeline applies.
    """

    def __init__(self, guidance: Guidance, settings: Settings) -> None:
        self._guidance = guidance
        self._settings = settings
        self._catalogue: Catalogue = guidance.engine.catalogue
        wording = guidance.renderer.knowledge.wording
        self._labels = {rec_id: label_patterns(text.suggestions)
                        for rec_id, text in wording.items()}
        self._pipelines: dict[dt.date, Pipeline] = {}

    def _pipeline(self, scenario: Scenario) -> Pipeline:
        today = scenario.manifest.today
        if today not in self._pipelines:
            guidance = dataclasses.replace(self._guidance, today=today)
            self._pipelines[today] = Pipeline.of(guidance, self._settings)
        return self._pipelines[today]

    def run_call(self, scenario: Scenario, call: ScenarioCall) -> CallResult:
        """Run one call and check it against its manifest."""
        service = next(service for service in SERVICES if service.hook == call.hook)
        try:
            outcome = self._pipeline(scenario).run(service, scenario.request(call), BASE_URL)
        except (ScenarioError, CdsError) as exc:
            return CallResult(scenario, call, (), (f"the call failed: {exc}",),
                              self._checks(call, ()))
        decision = outcome.decision
        cards = tuple(_produced(item.card, self._labels.get(item.recommendation_id, ()))
                      for item in decision.issued)
        problems = [f"rule {rec_id} raised an error (its card is missing)"
                    for rec_id in decision.rule_failures]
        if call.unreadable is not None and tuple(decision.unreadable) != call.unreadable:
            problems.append(f"unreadable resources {list(decision.unreadable)}, expected "
                            f"{list(call.unreadable)}")
        return CallResult(scenario, call, cards, tuple(problems), self._checks(call, cards))

    def _checks(self, call: ScenarioCall, cards: tuple[ProducedCard, ...]) -> tuple[Check, ...]:
        fires = dict.fromkeys([*call.must, *call.indicators, *call.subjects])
        checks = []
        for rec_id in fires:
            own = tuple(card for card in cards if card.rec_id == rec_id)
            problems = [] if own else ["no card"]
            expected = call.indicators.get(rec_id)
            shown = sorted({card.indicator.value for card in own})
            if own and expected is not None and shown != [expected.value]:
                problems.append(f"indicator {', '.join(shown)}, expected {expected.value}")
            subjects = call.subjects.get(rec_id)
            about = sorted({card.subject or "" for card in own})
            if own and subjects is not None and about != sorted(set(subjects)):
                problems.append(f"about {about}, expected {sorted(set(subjects))}")
            checks.append(Check(rec_id, Expect.FIRES, tuple(problems), own))
        for rec_id in dict.fromkeys(call.must_not):
            own = tuple(card for card in cards if card.rec_id == rec_id)
            problems = [f"{len(own)} card(s) shown"] if own else []
            checks.append(Check(rec_id, Expect.SILENT, tuple(problems), own))
        return tuple(checks)

    def run(self, scenarios: tuple[Scenario, ...]) -> ValidationReport:
        """Run every call of ``scenarios`` and gather the report."""
        calls = tuple(self.run_call(scenario, call)
                      for scenario in scenarios for call in scenario.manifest.calls)
        named = {check.rec_id for call in calls for check in call.checks}
        called = {call.call.hook for call in calls}
        version = self._guidance.renderer.version
        if version is None:
            raise RuntimeError("the guidance was built without a knowledge-base version")
        return ValidationReport(
            version=version,
            scenarios=scenarios,
            calls=calls,
            recommendations=tuple(self._by_recommendation(spec, calls)
                                  for spec in self._catalogue),
            hooks_called=tuple((service.hook, service.hook in called) for service in SERVICES),
            unknown_ids=tuple(sorted(named - set(self._catalogue.ids))),
        )

    def _by_recommendation(self, spec: RecommendationSpec,
                           calls: tuple[CallResult, ...]) -> RecommendationResult:
        mine = [(call, check) for call in calls for check in call.checks
                if check.rec_id == spec.id]
        fires = tuple((call, check) for call, check in mine if check.expect is Expect.FIRES)
        silent = tuple((call, check) for call, check in mine if check.expect is Expect.SILENT)
        return RecommendationResult(spec, fires, silent, self._coverage(spec, fires, silent))

    def _coverage(self, spec: RecommendationSpec, fires: tuple[tuple[CallResult, Check], ...],
                  silent: tuple[tuple[CallResult, Check], ...]) -> Coverage:
        """What the passing must-fire checks showed of ``spec``, and whether a must-stay-silent
        check passed."""
        shown = [(call, card) for call, check in fires if check.passed for card in check.cards]
        seen = _suggestion_actions(card for _, card in shown)
        wording = self._guidance.renderer.knowledge.wording.get(spec.id)
        return Coverage(
            hooks=tuple((hook, any(call.call.hook == hook for call, _ in shown))
                        for hook in spec.hooks),
            indicators=tuple((indicator, any(card.indicator == indicator for _, card in shown))
                             for indicator in spec.indicators),
            suggestions=tuple(
                (key, tuple(sorted(" + ".join(actions) for actions in seen.get(key, ()))))
                for key in (wording.suggestions if wording else {})),
            silent_checked=any(check.passed for _, check in silent),
        )


def _suggestion_actions(cards: Iterable[ProducedCard]) -> dict[str, set[tuple[str, ...]]]:
    """Per suggestion key, the action-type sequences its suggestions carried on ``cards``."""
    seen: dict[str, set[tuple[str, ...]]] = {}
    for card in cards:
        for suggestion in card.suggestions:
            if suggestion.key is not None:
                seen.setdefault(suggestion.key, set()).add(suggestion.actions)
    return seen
