"""The work behind each command-line verb, one module per verb."""
