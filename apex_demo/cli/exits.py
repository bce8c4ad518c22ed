"""The command line's exit codes, one meaning each, for every subcommand."""

EXIT_OK = 0             # everything was done
EXIT_SOME_FAILED = 1    # some inputs failed (each has its error row or line); the others were processed
EXIT_USAGE = 2          # a usage, configuration or model error stopped the command (doctor: a check failed)
