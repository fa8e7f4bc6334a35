from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class UploadSizeLimit(FileUploadHandler):
    """Drop an uploaded file once it passes ``limit`` bytes, and say so.

    Put first in the chain, it keeps an oversized logo off memory and disk
    while the form's other fields still arrive; ``request.upload_too_large``
    tells the form why the file is missing.
    """

    def __init__(self, request, limit):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        request.upload_too_large = False

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.request.upload_too_large = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None
