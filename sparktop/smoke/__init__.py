"""sparktop smoke: SLOs, checks and the verdict (the command is sparktop.commands.smoke)."""
