import sys

from modelsteal.cli import main

sys.exit(main())
