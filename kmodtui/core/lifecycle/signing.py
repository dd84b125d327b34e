"""Module signing for Secure Boot (`kmodtui sign`, the TUI's s): the key pair and sign-file, kept in
kmodtui.core.build.signing, where a package build's sign step runs them too."""

from kmodtui.core.build.signing import (
    default_signing_key,
    ensure_signing_key,
    main,
    make_signing_key,
    sign_files,
    sign_modules,
)

__all__ = ["default_signing_key", "ensure_signing_key", "main", "make_signing_key", "sign_files", "sign_modules"]

if __name__ == "__main__":
    raise SystemExit(main())
