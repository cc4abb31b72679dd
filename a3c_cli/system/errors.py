"""The exceptions the command line turns into exit codes: library code raises, only the CLI exits."""


def os_error_text(exc: OSError) -> str:
    """No space left on device (/path/to/file): what an OSError says, in a line."""
    return f"{exc.strerror}" + (f" ({exc.filename})" if exc.filename else "")


class UsageError(Exception):
    """Bad input from the user (an override, a path, a game name): the message names the problem
    and the fix, in one line."""

    exit_code = 2


class RunFailed(Exception):
    """A run that started and could not go on (a worker died): one line, exit code 1; the full
    traceback is in the run's log."""

    exit_code = 1


class Interrupted(Exception):
    """A run stopped by a signal (Ctrl-C, SIGTERM) after saving what it had: exit code 128 + the
    signal's number, as a shell reports a process the signal ended."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by signal {signum}")
        self.exit_code = 128 + signum
