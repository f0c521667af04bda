from ticket_alarm.cli import main

raise SystemExit(main())
