"""The one exception family of tsgate. The CLI turns each into a one-line
message and an exit code; library code only raises."""


class TsgateError(Exception):
    """Base of every error tsgate raises on purpose."""

    exit_code = 2


class DataError(TsgateError):
    """The input data cannot be used as it is (columns, values, timestamps)."""


class OptionError(TsgateError):
    """An option value is invalid or contradicts another option or the data."""


class ModelFileError(TsgateError):
    """A model file is missing, corrupt, hostile or not a tsgate model."""


class TrainingError(TsgateError):
    """Training diverged (loss became NaN or infinite)."""


class OutputError(TsgateError):
    """An output path cannot be written."""
