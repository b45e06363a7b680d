"""The optional tqdm progress bar (the ``progress`` extra), shared by descend and fit."""


def bar(total, unit):
    """A tqdm bar on stderr, or an ImportError saying how to get tqdm."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("progress=True needs tqdm: pip install tqdm (or fastgd[progress])") from None
    return tqdm(total=total, unit=unit)


def available():
    """True where tqdm is importable."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True
