"""``python -m dissim.pipelines.run``: the command line that runs recipes (see :mod:`dissim.cli`)."""
