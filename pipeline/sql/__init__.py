"""The SQL interface over a run: views, macros, the judging rules, the field checks and the shell."""
