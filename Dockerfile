# One image, two entry points (docs/deployment.md):
#   API (the default):   ledger serve --host 0.0.0.0 --port 8000 --workers 3
#   projection worker:   docker run IMAGE ledger projections run
# With workers apart set LEDGER_PROJECTION_WORKERS=external on the API containers, and
# LEDGER_READ_DATABASE_URL to a hot standby to send their queries there.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LEDGER_DATABASE_URL=sqlite:////var/lib/ledger/ledger.db

RUN useradd --system --create-home --home-dir /home/ledger ledger \
    && mkdir -p /var/lib/ledger && chown ledger /var/lib/ledger

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY ledger_cli ./ledger_cli
COPY api ./api
COPY projections ./projections
COPY persistence ./persistence
COPY migrations ./migrations
COPY workspace ./workspace
RUN pip install .

USER ledger
EXPOSE 8000
# The API answers /healthz; a worker container (`ledger projections run` as PID 1) is
# healthy while its process runs, which is all Docker can see of it.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD python -c "import sys,urllib.request; sys.exit(0 if b'projections' in open('/proc/1/cmdline','rb').read() else urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"

# `ledger serve` runs gunicorn with ledger_cli/serving.py: 3 workers of 4 threads each, whose
# threads only take requests that have arrived whole, so slow or idle clients cannot starve
# them (README, "Serving"). It execs gunicorn, which stays PID 1 and gets the stop signal.
# No --preload: each worker builds its own application and connection pool.
# Run `ledger db upgrade` (with LEDGER_ADMIN_DATABASE_URL) before the first start.
# Plain HTTP/1.1 only: terminate TLS in front.
# `ledger projections run` stops on SIGTERM after its current page (an interrupted page
# rolls back and is applied by whichever worker owns the view next).
CMD ["ledger", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "3"]
