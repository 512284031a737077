import sys

from houserules.cli import main

sys.exit(main())
