from diffpaint.cli import main

raise SystemExit(main())
