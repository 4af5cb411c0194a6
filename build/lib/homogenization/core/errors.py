"""The one exception type for mistakes a user can fix (bad data, bad config, bad paths)."""


class UserError(Exception):
    """A problem in the user's input. The message names the file/line or config key and the fix.

    Entry points print it as a single line, without a traceback.
    """
