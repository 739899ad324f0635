"""The screens: dashboard, charts, events, and the help and marker dialogs."""
