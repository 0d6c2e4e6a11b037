"""Preloaded into every worker of the local Dask cluster lt-data starts (``--scheduler local:N``).

Ctrl-C in a terminal reaches every process of its group: the main process handles it (it closes the
cluster and says one line); a worker that handled it too would print its own KeyboardInterrupt
traceback, dozens of lines for one key press. So workers ignore SIGINT.
"""

import signal
import threading

if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
