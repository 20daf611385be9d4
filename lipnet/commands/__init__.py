"""The command-line tools, one module each; `lipnet.__main__` is the `lipnet` command that runs them. Each module's
``main(argv)`` parses and checks its arguments before it imports anything heavy."""
