# One image for every process of the system (web, and later gateway, HL7 listener, Celery).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    MWL_VAR_DIR=/var/lib/mwl-ris
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --no-input --verbosity 0 \
    && useradd --system --home /app ris && mkdir -p /var/lib/mwl-ris/gateway-journal /var/lib/mwl-ris/audit-key /archive/audit \
    && chown -R ris /var/lib/mwl-ris /archive
USER ris
EXPOSE 8000
CMD ["gunicorn", "mwl_ris.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
