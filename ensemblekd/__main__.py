from ensemblekd.cli import main

raise SystemExit(main())
