"""The one exception type that the command line turns into a one-line message."""


class LotteryError(ValueError):
    """Bad input: a config field, a model or method name, a mask, a density.

    ``field`` names what was wrong (a config path like ``train.optimizer.name``,
    or a parameter path like ``fc1/kernel``); ``str(err)`` is one line naming it
    and what is allowed.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
