from kmodtui.cli import entry

entry()
