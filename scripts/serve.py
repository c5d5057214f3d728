"""Serve a checkpoint over HTTP: ``python scripts/serve.py ckpt_path=<ckpt> [port=8000]``.

Runs ``seqkit.app.serve`` (FastAPI on uvicorn) on the checkpoint's (network, codec), for every shape, without
importing Lightning; needs the serve extra (``pip install -e ".[serve]"``). ``seqkit serve ...`` is the same."""

if __name__ == "__main__":
    from seqkit.app.main import main

    main("serve")
