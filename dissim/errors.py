"""Errors a user can cause and fix."""


class UserError(Exception):
    """A mistake in the user's input (flag, file, data) with a one-line message naming the fix.

    The command line prints the message on stderr and exits with status 2, without a traceback.
    """
