"""`python -m archspec` runs the CLI; Ctrl-C is handled cleanly from the first line here on."""

import gc
import signal

if __name__ == "__main__":
    # The process is the command line, which runs its command with the collector off
    # (archspec.cli.main): it is off from the start, through the imports (see archspec.cli),
    # and back as it was at the end, for a program that ran this module in its own process.
    collecting = gc.isenabled()
    gc.disable()
    try:
        from archspec.files import exit_on_signal

        signal.signal(signal.SIGINT, exit_on_signal)  # before the CLI's imports (see archspec.cli)

        from archspec.cli import main

        main()
    finally:
        if collecting:
            gc.enable()
