FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 KSEM_VAR_DIR=/data
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_SECRET_KEY=build KSEM_VAR_DIR=/tmp/build python manage.py collectstatic --noinput \
    && useradd --system --home /app ksem && mkdir -p /data && chown ksem /data
USER ksem
VOLUME /data
# web 8000, web over HTTPS 8443; the simulated grid meter 15020; the product's Modbus TCP slave 502 (once it runs).
EXPOSE 8000 8443 5020 8020 15020 15021 15022
