from kmodtui.cli import main

raise SystemExit(main())
