from kcm.cli import main

raise SystemExit(main())
