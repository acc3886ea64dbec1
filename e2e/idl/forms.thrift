// RichService's echoAll and concatReq (e2e/idl/rich.thrift, served by
// thriftpy2) under Hertz's form annotations: api.form with a multipart
// file and its name and type, api.serializer = "form", api.raw_uri,
// api.vd rules. The
// field ids are rich.thrift's, so the server reads what the gateway writes.
namespace py rich

struct Upload {
    5: i32 an_i32                                      // a body field: JSON key, or form key
    8: string a_string (api.form = "avatar.filename")  // the file's name
    9: binary a_binary (api.form = "avatar")           // the file's content
    16: list<i32> i32_list                             // a body list: repeated form keys
    17: list<string> string_list (api.form = "tags")
    255: optional string far (api.form = "avatar.content_type")
}

struct Concat {
    1: string a (api.form = "first", api.vd = "regexp('^[a-z]*$')")
    2: i32 b = 1 (api.vd = "$>0 && $<100; msg:sprintf('b is 1 to 99, not %v', $)")
    6: string note (api.raw_uri = "")
}

struct ConcatOut {
    1: string result
    4: string note
}

service RichService {
    Upload echoAll(1: Upload v) (api.post = "/form/upload")
    ConcatOut concatReq(1: Concat req) (api.post = "/form/concat", api.serializer = "form")
}
