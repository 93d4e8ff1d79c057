"""Media: blob storage (local files, S3-compatible object storage), content sniffing, image processing and
signed download URLs. The rules (who may upload, read, how long things live) are in services/media.py."""
