"""`python -m sandbox` (what `make run` runs)."""

import logging
import os
import sys

from sandbox.main import main

code = main()
# Everything has stopped by now: the children, the servers and their threads. A normal exit would still spend
# seconds freeing moto's and botocore's objects one by one before the terminal gets its prompt back.
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
