// Placeholder until the windowed_stream transformations land; included by api/data_stream.h.
#pragma once
#include "api/data_stream.h"
