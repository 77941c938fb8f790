import sys

from renewflow.tasks.worker import main

sys.exit(main())
