"""`python -m archspec` runs the CLI; Ctrl-C is handled cleanly from the first line here on."""

import signal

from archspec.files import exit_on_signal

if __name__ == "__main__":
    signal.signal(signal.SIGINT, exit_on_signal)  # before the CLI's imports (see archspec.cli)

    from archspec.cli import main

    main()
