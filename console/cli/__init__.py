"""The command line: ``slowroll COMMAND`` (``console.cli.main``), one module per command."""
