"""The local web app: ``lipnet app`` serves a page at http://127.0.0.1:7860 with a tab per job.

Read lips (a video or the webcam), lip-sync from sound (a file or the microphone), check audio-visual sync, animate a
mouth or a face photo from speech; each tab is also an API endpoint for `gradio_client` (``/read``, ``/lipsync``,
``/sync``, ``/animate``). Everything stays on this computer: no analytics, no share link, nothing fetched.
``--host 0.0.0.0`` serves other computers of the network too (anyone who reaches it can use it).
"""

from __future__ import annotations

import argparse
import os
import sys

from lipnet import cli, env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--host", default=env.APP_HOST, help="address to serve on (default: %(default)s, this computer only)"
    )
    p.add_argument("--port", type=int, default=env.APP_PORT, help="port (default: %(default)s)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cli.start()  # Keras with its start-up chatter muted; the models themselves load on their first request
    from lipnet import app

    try:
        app.serve(args.host, args.port)
    except OSError as err:  # the port is taken, the address is not this computer's
        return cli.fail(f"cannot serve on {args.host}:{args.port}: {err}")
    # Served, stopped, its files removed: leave now. The server's worker threads have run TensorFlow and FFmpeg,
    # whose native threads can abort the interpreter's own shutdown ("terminate called without an active exception").
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
