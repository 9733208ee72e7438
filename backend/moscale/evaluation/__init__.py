"""Evaluation: the retrieval evaluator, the standard T2M metrics, physical metrics and `moscale eval`."""
