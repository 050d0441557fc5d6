"""The one exception type that means "the user's input is wrong"."""


class UserError(Exception):
    """A mistake in the user's input or flags.

    The CLI prints it on one line and exits with status 2; library callers can catch it.
    The message must name the file, column or flag at fault and, where it can, say what to do.
    """
