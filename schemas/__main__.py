from schemas.generate import main

raise SystemExit(main())
