"""``python -m topis`` is the ``topis`` command."""

from topis.cli import main

if __name__ == "__main__":
    main()
