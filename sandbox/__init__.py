"""The local sandbox behind `make run`: the platform's processes on 127.0.0.1, started and stopped as one."""
