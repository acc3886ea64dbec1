package com.kitegate.e2e.api;

/** Checked exception declared by {@link RichService#failChecked(String)}. */
public class RichException extends Exception {
    private static final long serialVersionUID = 1L;

    /** An extra field so the serialized form carries more than Throwable's fields. */
    private String code;

    public RichException() {
    }

    public RichException(String code, String message) {
        super(message);
        this.code = code;
    }

    public String getCode() {
        return code;
    }

    public void setCode(String code) {
        this.code = code;
    }
}
