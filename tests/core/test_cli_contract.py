"""The command line says what to do: every flag explained, one name per concept."""

from __future__ import annotations


def test_every_flag_and_argument_of_every_verb_has_help_text() -> None:
    import argparse

    from kmodtui.cli import build_parser

    missing = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for verb, subparser in action.choices.items():
                    walk(subparser, verb)
            elif not isinstance(action, argparse._HelpAction) and action.help is None:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser([]), "kmodtui")
    assert not missing


def test_one_name_for_the_other_modules_exports_across_verbs() -> None:
    """--extra-symbols everywhere; the old names stay as aliases."""
    from kmodtui.cli import build_parser

    for argv in (["build", "--extra-symbols", "A"], ["remedy", "show", "x", "--extra-symbols", "A"],
                 ["resolve", "m.ko", "--extra-symbols", "A"], ["resolve", "m.ko", "--with", "A"],
                 ["remedy", "show", "x", "--with-symvers", "A"]):
        args = build_parser(argv).parse_args(argv)
        assert "A" in (getattr(args, "extra_symbols", None) or getattr(args, "with_symvers", None)
                       or getattr(args, "with_", None) or [])
