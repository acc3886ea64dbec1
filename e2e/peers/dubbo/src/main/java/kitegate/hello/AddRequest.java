package kitegate.hello;

import java.io.Serializable;

public class AddRequest implements Serializable {
    private static final long serialVersionUID = 1L;

    private long first;
    private long second;

    public AddRequest() {
    }

    public AddRequest(long first, long second) {
        this.first = first;
        this.second = second;
    }

    public long getFirst() {
        return first;
    }

    public void setFirst(long first) {
        this.first = first;
    }

    public long getSecond() {
        return second;
    }

    public void setSecond(long second) {
        this.second = second;
    }
}
