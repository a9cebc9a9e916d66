//! Property checks shared by the fuzz targets and the tests (filled in below).
