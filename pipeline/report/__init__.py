"""Building and grading the compliance report: metrics, slices, applications, verdicts, gate, diff, expectations."""
