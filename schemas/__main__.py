from reqtrail.schemas.generate import main

raise SystemExit(main())
