"""The guideline engine: the recommendation catalogue and the rules that apply it to a case."""
