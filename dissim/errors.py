"""Errors a user can cause and fix."""


class UserError(ValueError):
    """A mistake in the user's input (flag, file, data, parameter) with a one-line message naming the fix.

    The command line prints the message on stderr and exits with status 2, without a traceback.
    It is a ``ValueError``, so that estimators given bad parameters or data raise what
    scikit-learn's contract expects.
    """
